//! The attribute arrays handed to C: ONE `malloc` block holding the struct array followed by
//! every name (NUL-terminated) and value, so that `free(attrs)` releases everything.

use std::mem::size_of;

use hyperdex_core::codes::DataType;

use super::types::hyperclient_attribute;

/// Bytes a block for these attributes takes, or None on overflow.
fn block_size<'v, I>(items: I) -> Option<(usize, usize)>
where
    I: Iterator<Item = (&'v [u8], DataType, &'v [u8])>,
{
    let mut n = 0usize;
    let mut bytes = 0usize;
    for (name, _, value) in items {
        n += 1;
        bytes = bytes.checked_add(name.len())?.checked_add(1)?.checked_add(value.len())?;
    }
    let total = n.checked_mul(size_of::<hyperclient_attribute>())?.checked_add(bytes)?;
    Some((n, total))
}

/// Builds the block. Returns the array and its length, or None when the allocation fails.
/// An empty list still gives a non-NULL pointer (to a 1-byte block).
pub(crate) fn build<'v, I>(items: I) -> Option<(*mut hyperclient_attribute, usize)>
where
    I: Iterator<Item = (&'v [u8], DataType, &'v [u8])> + Clone,
{
    let (n, total) = block_size(items.clone())?;
    // SAFETY: malloc of a positive size; the result is checked for NULL.
    let base = unsafe { libc::malloc(total.max(1)) }.cast::<u8>();
    if base.is_null() {
        return None;
    }
    let array = base.cast::<hyperclient_attribute>();
    // SAFETY: the block has room for `n` structs first (malloc aligns for any type), then
    // exactly the name and value bytes counted by block_size, written below in order.
    unsafe {
        let mut cursor = base.add(n * size_of::<hyperclient_attribute>());
        for (i, (name, dtype, value)) in items.take(n).enumerate() {
            let name_ptr = cursor;
            std::ptr::copy_nonoverlapping(name.as_ptr(), cursor, name.len());
            cursor = cursor.add(name.len());
            cursor.write(0);
            cursor = cursor.add(1);
            let value_ptr = cursor;
            std::ptr::copy_nonoverlapping(value.as_ptr(), cursor, value.len());
            cursor = cursor.add(value.len());
            array.add(i).write(hyperclient_attribute {
                attr: name_ptr.cast(),
                value: value_ptr.cast(),
                value_sz: value.len(),
                datatype: dtype as u32,
            });
        }
        debug_assert_eq!(cursor as usize - base as usize, total);
    }
    Some((array, n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    #[test]
    fn block_holds_structs_then_names_and_values() {
        let items: Vec<(&[u8], DataType, &[u8])> = vec![
            (b"first", DataType::String, b"John"),
            (b"age", DataType::Int64, b""),
            (b"friends", DataType::SetString, b"\x02\0\0\0jd"),
        ];
        let (p, n) = build(items.iter().copied()).unwrap();
        assert_eq!(n, 3);
        // SAFETY: reading back the block just built, then freeing it once.
        unsafe {
            let arr = std::slice::from_raw_parts(p, n);
            let base = p as usize;
            let strings = base + 3 * size_of::<hyperclient_attribute>();
            // The first name starts right after the array; everything lies inside the block.
            assert_eq!(arr[0].attr as usize, strings);
            let total = strings - base + (5 + 1 + 4) + (3 + 1) + (7 + 1 + 6);
            for (a, (name, dtype, value)) in arr.iter().zip(&items) {
                assert_eq!(CStr::from_ptr(a.attr).to_bytes(), *name);
                assert_eq!(a.datatype, *dtype as u32);
                assert_eq!(std::slice::from_raw_parts(a.value.cast::<u8>(), a.value_sz), *value);
                assert!((a.value as usize) + a.value_sz <= base + total);
            }
            // Never-set values have size 0 but still a valid pointer.
            assert_eq!(arr[1].value_sz, 0);
            assert!(!arr[1].value.is_null());
            libc::free(p.cast());
        }
    }

    #[test]
    fn empty_list_gives_a_freeable_pointer() {
        let (p, n) = build(std::iter::empty::<(&[u8], DataType, &[u8])>()).unwrap();
        assert_eq!(n, 0);
        assert!(!p.is_null());
        // SAFETY: p came from malloc.
        unsafe { libc::free(p.cast()) };
    }
}
