-- A lens version's description; a version is immutable, so an existing row is kept.
INSERT INTO lenses (version, lens, encoder, info, metrics)
VALUES ($version, $lens, $encoder, $info, $metrics)
ON CONFLICT DO NOTHING;
