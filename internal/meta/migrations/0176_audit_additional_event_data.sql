-- CloudTrail's additionalEventData of an audit event (internal/audit): a
-- JSON object, '' when the event has none. Console sign-ins
-- (ConsoleLogin) record MFAUsed, LoginTo and MobileVersion in it.
ALTER TABLE audit_events ADD COLUMN additional_event_data TEXT NOT NULL DEFAULT '';
