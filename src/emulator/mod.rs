//! TODO(skeleton): emulator
