//! The C structures of `hyperclient.h` (field order is ABI) and read-only views of them
//! that the safe client consumes.
//!
//! The C enums (`enum hyperclient_returncode`, `enum hyperdatatype`, `enum hyperpredicate`)
//! are plain 32-bit integers on this side of the boundary: a C caller can store any number
//! in them, and an out-of-range value in a Rust enum would be undefined behaviour. The header
//! generator renames these aliases to the C enum types (see cbindgen.toml).

use std::ffi::{c_char, CStr};
use std::marker::PhantomData;

use crate::client::{AttrInput, CheckInput, MapAttrInput};

/// `enum hyperclient_returncode` in C.
pub type HyperclientReturncode = u32;
/// `enum hyperdatatype` in C.
pub type Hyperdatatype = u32;
/// `enum hyperpredicate` in C.
pub type Hyperpredicate = u32;

/// One attribute: its name, and a value in the encoding of `datatype`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hyperclient_attribute {
    /// NUL-terminated attribute name.
    pub attr: *const c_char,
    /// The encoded value (not NUL-terminated; may be NULL when value_sz is 0).
    pub value: *const c_char,
    pub value_sz: usize,
    pub datatype: Hyperdatatype,
}

/// One entry of a map attribute: the map key and the value (or operand) for that key.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hyperclient_map_attribute {
    pub attr: *const c_char,
    pub map_key: *const c_char,
    pub map_key_sz: usize,
    pub map_key_datatype: Hyperdatatype,
    pub value: *const c_char,
    pub value_sz: usize,
    pub value_datatype: Hyperdatatype,
}

/// One condition: the attribute must satisfy `predicate` against the value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct hyperclient_attribute_check {
    pub attr: *const c_char,
    pub value: *const c_char,
    pub value_sz: usize,
    pub datatype: Hyperdatatype,
    pub predicate: Hyperpredicate,
}

/// Bytes at `ptr`: empty when `sz` is 0 (whatever the pointer), None when NULL otherwise.
///
/// # Safety
/// A non-NULL `ptr` must point at `sz` readable bytes that outlive `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const c_char, sz: usize) -> Option<&'a [u8]> {
    if sz == 0 {
        Some(&[])
    } else if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL and, by the caller's contract, valid for `sz` bytes.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), sz) })
    }
}

/// The bytes of a NUL-terminated string, None for NULL.
///
/// # Safety
/// A non-NULL `ptr` must point at a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn c_str<'a>(ptr: *const c_char) -> Option<&'a [u8]> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-NULL and NUL-terminated by the caller's contract.
        Some(unsafe { CStr::from_ptr(ptr) }.to_bytes())
    }
}

/// A C array viewed as a slice of `V` (a transparent wrapper of `C`): empty when `n` is 0,
/// None when the pointer is NULL otherwise.
///
/// # Safety
/// `V` must be `repr(transparent)` over `C`; a non-NULL `ptr` must point at `n` valid,
/// aligned elements whose pointers stay valid for `'a`.
unsafe fn view<'a, C, V>(ptr: *const C, n: usize) -> Option<&'a [V]> {
    if n == 0 {
        Some(&[])
    } else if ptr.is_null() {
        None
    } else {
        // SAFETY: see the function's contract; V has C's layout.
        Some(unsafe { std::slice::from_raw_parts(ptr.cast::<V>(), n) })
    }
}

/// A `hyperclient_attribute` whose pointers are valid for `'a` (established when the view
/// is made, in [`AttrView::slice`]).
#[repr(transparent)]
pub(crate) struct AttrView<'a>(hyperclient_attribute, PhantomData<&'a [u8]>);

impl<'a> AttrView<'a> {
    /// # Safety
    /// `ptr` must point at `n` attributes whose strings and values stay valid for `'a`.
    pub(crate) unsafe fn slice(ptr: *const hyperclient_attribute, n: usize) -> Option<&'a [AttrView<'a>]> {
        // SAFETY: forwarded contract; AttrView is transparent over hyperclient_attribute.
        unsafe { view(ptr, n) }
    }
}

impl AttrInput for AttrView<'_> {
    fn name(&self) -> Option<&[u8]> {
        // SAFETY: valid for the view's lifetime (see AttrView::slice).
        unsafe { c_str(self.0.attr) }
    }
    fn value(&self) -> Option<&[u8]> {
        // SAFETY: as above.
        unsafe { bytes(self.0.value, self.0.value_sz) }
    }
    fn datatype(&self) -> u32 {
        self.0.datatype
    }
}

/// A `hyperclient_attribute_check` valid for `'a`.
#[repr(transparent)]
pub(crate) struct CheckView<'a>(hyperclient_attribute_check, PhantomData<&'a [u8]>);

impl<'a> CheckView<'a> {
    /// # Safety
    /// `ptr` must point at `n` checks whose strings and values stay valid for `'a`.
    pub(crate) unsafe fn slice(ptr: *const hyperclient_attribute_check, n: usize) -> Option<&'a [CheckView<'a>]> {
        // SAFETY: forwarded contract; CheckView is transparent over the C struct.
        unsafe { view(ptr, n) }
    }
}

impl AttrInput for CheckView<'_> {
    fn name(&self) -> Option<&[u8]> {
        // SAFETY: valid for the view's lifetime (see CheckView::slice).
        unsafe { c_str(self.0.attr) }
    }
    fn value(&self) -> Option<&[u8]> {
        // SAFETY: as above.
        unsafe { bytes(self.0.value, self.0.value_sz) }
    }
    fn datatype(&self) -> u32 {
        self.0.datatype
    }
}

impl CheckInput for CheckView<'_> {
    fn predicate(&self) -> u32 {
        self.0.predicate
    }
}

/// A `hyperclient_map_attribute` valid for `'a`.
#[repr(transparent)]
pub(crate) struct MapAttrView<'a>(hyperclient_map_attribute, PhantomData<&'a [u8]>);

impl<'a> MapAttrView<'a> {
    /// # Safety
    /// `ptr` must point at `n` map attributes whose strings and values stay valid for `'a`.
    pub(crate) unsafe fn slice(ptr: *const hyperclient_map_attribute, n: usize) -> Option<&'a [MapAttrView<'a>]> {
        // SAFETY: forwarded contract; MapAttrView is transparent over the C struct.
        unsafe { view(ptr, n) }
    }
}

impl MapAttrInput for MapAttrView<'_> {
    fn name(&self) -> Option<&[u8]> {
        // SAFETY: valid for the view's lifetime (see MapAttrView::slice).
        unsafe { c_str(self.0.attr) }
    }
    fn map_key(&self) -> Option<&[u8]> {
        // SAFETY: as above.
        unsafe { bytes(self.0.map_key, self.0.map_key_sz) }
    }
    fn map_key_datatype(&self) -> u32 {
        self.0.map_key_datatype
    }
    fn value(&self) -> Option<&[u8]> {
        // SAFETY: as above.
        unsafe { bytes(self.0.value, self.0.value_sz) }
    }
    fn value_datatype(&self) -> u32 {
        self.0.value_datatype
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn layouts_match_the_c_structs_on_lp64() {
        assert_eq!(size_of::<hyperclient_attribute>(), 32);
        assert_eq!(offset_of!(hyperclient_attribute, value_sz), 16);
        assert_eq!(offset_of!(hyperclient_attribute, datatype), 24);
        assert_eq!(size_of::<hyperclient_map_attribute>(), 56);
        assert_eq!(offset_of!(hyperclient_map_attribute, map_key_datatype), 24);
        assert_eq!(offset_of!(hyperclient_map_attribute, value), 32);
        assert_eq!(offset_of!(hyperclient_map_attribute, value_datatype), 48);
        assert_eq!(size_of::<hyperclient_attribute_check>(), 32);
        assert_eq!(offset_of!(hyperclient_attribute_check, predicate), 28);
        assert_eq!(size_of::<AttrView<'_>>(), size_of::<hyperclient_attribute>());
        assert_eq!(align_of::<CheckView<'_>>(), align_of::<hyperclient_attribute_check>());
        assert_eq!(size_of::<MapAttrView<'_>>(), size_of::<hyperclient_map_attribute>());
    }

    #[test]
    fn null_pointers_are_refused_unless_the_size_is_zero() {
        // SAFETY: NULL pointers and zero sizes only.
        unsafe {
            assert_eq!(bytes(std::ptr::null(), 0), Some(&[][..]));
            assert_eq!(bytes(std::ptr::null(), 3), None);
            assert_eq!(c_str(std::ptr::null()), None);
            assert!(AttrView::slice(std::ptr::null(), 0).is_some_and(|s| s.is_empty()));
            assert!(AttrView::slice(std::ptr::null(), 2).is_none());
        }
    }

    #[test]
    fn views_read_the_c_fields() {
        let name = c"age";
        let value = 42i64.to_le_bytes();
        let arr =
            [hyperclient_attribute { attr: name.as_ptr(), value: value.as_ptr().cast(), value_sz: 8, datatype: 9218 }];
        // SAFETY: `arr` and what it points at outlive the view.
        let v = unsafe { AttrView::slice(arr.as_ptr(), 1) }.unwrap();
        assert_eq!(v[0].name(), Some(&b"age"[..]));
        assert_eq!(v[0].value(), Some(&value[..]));
        assert_eq!(v[0].datatype(), 9218);
    }
}
