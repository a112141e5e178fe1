//! TODO(skeleton): signature
