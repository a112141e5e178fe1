//! TODO(skeleton): translate
