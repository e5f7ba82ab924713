-- chat.db version 4: full-text search over message text (substrings, any script).
CREATE VIRTUAL TABLE message_text USING fts5(text, tokenize = 'trigram');
