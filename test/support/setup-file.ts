// Runs in every test worker before each file. Kept deliberately small.
process.env.AIRMIRROR_LOG_LEVEL ??= 'silent';
