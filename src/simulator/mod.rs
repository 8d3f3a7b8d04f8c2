//! TMI-compatible IRC simulator: speaks Twitch chat protocol on loopback for demo, tests and load.
