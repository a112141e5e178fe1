//! TODO(skeleton): request
