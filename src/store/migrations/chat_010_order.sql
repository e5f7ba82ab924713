-- chat.db version 10: a conversation is ordered by the sender's clock (`ts`), clamped so that
-- no message is placed after its arrival nor more than the retransmission period (7 days)
-- before it (docs/PROTOCOL.md section 12). `ord` is that time, ms; rows of the same `ord`
-- keep their arrival order (id).
ALTER TABLE message ADD COLUMN ord INTEGER NOT NULL DEFAULT 0;
UPDATE message SET ord = CASE WHEN ts <= 0 THEN dt ELSE MAX(MIN(ts, dt), dt - 604800000) END;
CREATE INDEX message_chat_ord ON message (chat, ord, id);
