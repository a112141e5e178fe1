//! TODO(skeleton): invoke
