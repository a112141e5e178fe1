//! TODO(skeleton): answer
