//! TODO(skeleton): upstream
