//! TODO(skeleton): region
