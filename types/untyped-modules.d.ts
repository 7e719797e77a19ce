declare module 'dynalite';
declare module '@20minutes/s3rver';
declare module 'asl-validator';
