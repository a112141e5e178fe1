//! TODO(skeleton): tc3
