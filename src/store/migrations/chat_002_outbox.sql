-- chat.db version 2: what the outbox, retransmission and message requests need.
ALTER TABLE message ADD COLUMN ts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE message ADD COLUMN next_try INTEGER;
CREATE INDEX message_outbox ON message (stat, next_try) WHERE stat IN ('N', 'S');
ALTER TABLE talk ADD COLUMN request INTEGER NOT NULL DEFAULT 0;
