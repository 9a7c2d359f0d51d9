-- Schema 8: what a device sends and syncs costs the same after years of
-- messages as on the first day.
--
-- The per-sender limits (messages in the last minute, bytes and messages
-- in the last day) read only the window's entries of this index, instead
-- of looking up every message the sender has kept.
CREATE INDEX messages_sender_created ON messages (sender_id, created_at, size);

-- The statuses a sender has not yet been told of are found among the
-- deliveries holding such news, which a sender's next sync clears, instead
-- of among all of the sender's messages.
CREATE INDEX deliveries_untold ON deliveries (message_id)
    WHERE (played_at IS NOT NULL AND told < 2) OR (delivered_at IS NOT NULL AND told < 1);
