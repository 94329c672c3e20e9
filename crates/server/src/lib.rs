pub fn main_entry() {}
