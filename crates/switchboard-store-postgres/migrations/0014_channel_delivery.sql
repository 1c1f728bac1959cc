-- Channels that reach customers elsewhere (SMS, email): a message's id at the provider (Twilio's
-- MessageSid, an email's Message-ID) for de-duplication and threading, its delivery status for
-- outgoing messages, and channel details (subject, attachments) as JSON. An inbox's channel
-- secret (e.g. the Twilio auth token) is stored encrypted with a key derived from the server
-- secret.
ALTER TABLE messages ADD COLUMN external_id TEXT;
ALTER TABLE messages ADD COLUMN delivery_status TEXT
    CHECK (delivery_status IN ('pending', 'sending', 'sent', 'failed'));
ALTER TABLE messages ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
CREATE INDEX messages_by_external_id ON messages (tenant_id, external_id);
-- A provider's redelivery of the same inbound message (Twilio retries, a relay posting an email
-- twice) is stored once, even when the two arrive at the same moment.
CREATE UNIQUE INDEX messages_incoming_external_id ON messages (tenant_id, external_id)
    WHERE direction = 'incoming' AND external_id IS NOT NULL;

ALTER TABLE inboxes ADD COLUMN channel_secret TEXT;
