//! TODO(skeleton): decode
