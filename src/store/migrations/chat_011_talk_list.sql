-- chat.db version 11: how the user keeps each conversation in the talk list. `pinned` is when
-- it was pinned (0: not pinned; pinned talks come first, the last pinned on top); a muted talk
-- notifies nothing; an archived one is out of the list until a new message comes; a talk
-- marked unread shows so until it is opened; `draft` is the composer's unsent text.
ALTER TABLE talk ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE talk ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE talk ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
ALTER TABLE talk ADD COLUMN marked_unread INTEGER NOT NULL DEFAULT 0;
ALTER TABLE talk ADD COLUMN draft TEXT;
