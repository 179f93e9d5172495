//! Replay of the dead letter: each message is applied again from its stored bytes.
