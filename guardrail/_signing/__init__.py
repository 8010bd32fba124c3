"""Keys and signed files (layer 3): `_files` makes keys and signs manifest files (`guardrail
keygen`, `guardrail sign`). Verifying a signed manifest is part of reading it:
`guardrail._manifest._signature`."""
