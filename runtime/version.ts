/** Troupe's own version, reported in discovery metadata; a test keeps it equal to package.json's. */
export const TROUPE_VERSION = "0.1.0";
