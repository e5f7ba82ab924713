-- chat.db version 8: messages that arrived from someone who was not a friend are marked, so
-- that what strangers leave can be bounded (store/requests.rs) without ever touching the
-- history of a conversation the user took part in. Adding the sender as a friend clears it.
ALTER TABLE message ADD COLUMN req INTEGER NOT NULL DEFAULT 0;
CREATE INDEX message_req ON message (chat, id) WHERE req = 1;
