//! ABI enumerations: return codes, datatypes and predicates. The numbers are part of the
//! C ABI (HyperDex 1.0's `hyperdex.h` / `hyperclient.h`) and must never change or be reused.

macro_rules! abi_enum {
    ($(#[$m:meta])* $name:ident : $repr:ty { $($(#[$vm:meta])* $var:ident = $val:expr, $sym:expr, $msg:expr;)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr($repr)]
        pub enum $name { $($(#[$vm])* $var = $val,)* }
        impl $name {
            /// All variants, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$var,)*];
            /// The variant with this number, if any.
            pub fn from_raw(v: $repr) -> Option<$name> {
                match v { $($val => Some($name::$var),)* _ => None }
            }
            /// The C name of the variant.
            pub fn symbol(self) -> &'static str { match self { $($name::$var => $sym,)* } }
            /// A short human message.
            pub fn message(self) -> &'static str { match self { $($name::$var => $msg,)* } }
        }
    };
}

abi_enum! {
    /// `enum hyperclient_returncode`.
    ReturnCode: u32 {
        Success = 8448, "HYPERCLIENT_SUCCESS", "Success";
        NotFound = 8449, "HYPERCLIENT_NOTFOUND", "Not Found";
        SearchDone = 8450, "HYPERCLIENT_SEARCHDONE", "Search Done";
        CmpFail = 8451, "HYPERCLIENT_CMPFAIL", "Conditional Operation Did Not Match Object";
        ReadOnly = 8452, "HYPERCLIENT_READONLY", "Cluster is in a Read-Only State";
        UnknownSpace = 8512, "HYPERCLIENT_UNKNOWNSPACE", "Unknown Space";
        CoordFail = 8513, "HYPERCLIENT_COORDFAIL", "Coordinator Failure";
        ServerError = 8514, "HYPERCLIENT_SERVERERROR", "Server Error";
        PollFailed = 8515, "HYPERCLIENT_POLLFAILED", "Polling Failed";
        Overflow = 8516, "HYPERCLIENT_OVERFLOW", "Integer-overflow or divide-by-zero";
        Reconfigure = 8517, "HYPERCLIENT_RECONFIGURE", "Reconfiguration";
        Timeout = 8519, "HYPERCLIENT_TIMEOUT", "Timeout";
        UnknownAttr = 8520, "HYPERCLIENT_UNKNOWNATTR", "Unknown attribute";
        DupeAttr = 8521, "HYPERCLIENT_DUPEATTR", "Duplicate attribute";
        NonePending = 8523, "HYPERCLIENT_NONEPENDING", "None pending";
        DontUseKey = 8524, "HYPERCLIENT_DONTUSEKEY", "Do not specify the key in a search predicate and do not redundantly specify the key for an insert";
        WrongType = 8525, "HYPERCLIENT_WRONGTYPE", "Attribute has the wrong type";
        NoMem = 8526, "HYPERCLIENT_NOMEM", "Memory allocation failed";
        BadConfig = 8527, "HYPERCLIENT_BADCONFIG", "The coordinator provided a malformed configuration";
        BadSpace = 8528, "HYPERCLIENT_BADSPACE", "The space description does not parse";
        Duplicate = 8529, "HYPERCLIENT_DUPLICATE", "The space already exists";
        Interrupted = 8530, "HYPERCLIENT_INTERRUPTED", "Interrupted by a signal";
        ClusterJump = 8531, "HYPERCLIENT_CLUSTER_JUMP", "The cluster identifier changed";
        CoordLogged = 8532, "HYPERCLIENT_COORD_LOGGED", "The coordinator logged an error";
        Offline = 8533, "HYPERCLIENT_OFFLINE", "All servers for the key are offline";
        Internal = 8573, "HYPERCLIENT_INTERNAL", "Internal Error (file a bug)";
        Exception = 8574, "HYPERCLIENT_EXCEPTION", "Internal Exception (file a bug)";
        Garbage = 8575, "HYPERCLIENT_GARBAGE", "Internal Corruption (file a bug)";
    }
}

abi_enum! {
    /// `enum hyperdatatype`.
    DataType: u32 {
        Generic = 9216, "HYPERDATATYPE_GENERIC", "generic";
        String = 9217, "HYPERDATATYPE_STRING", "string";
        Int64 = 9218, "HYPERDATATYPE_INT64", "int64";
        Float = 9219, "HYPERDATATYPE_FLOAT", "float";
        ListGeneric = 9280, "HYPERDATATYPE_LIST_GENERIC", "list";
        ListString = 9281, "HYPERDATATYPE_LIST_STRING", "list(string)";
        ListInt64 = 9282, "HYPERDATATYPE_LIST_INT64", "list(int64)";
        ListFloat = 9283, "HYPERDATATYPE_LIST_FLOAT", "list(float)";
        SetGeneric = 9344, "HYPERDATATYPE_SET_GENERIC", "set";
        SetString = 9345, "HYPERDATATYPE_SET_STRING", "set(string)";
        SetInt64 = 9346, "HYPERDATATYPE_SET_INT64", "set(int64)";
        SetFloat = 9347, "HYPERDATATYPE_SET_FLOAT", "set(float)";
        MapGeneric = 9408, "HYPERDATATYPE_MAP_GENERIC", "map";
        MapStringKeyonly = 9416, "HYPERDATATYPE_MAP_STRING_KEYONLY", "map(string)";
        MapStringString = 9417, "HYPERDATATYPE_MAP_STRING_STRING", "map(string, string)";
        MapStringInt64 = 9418, "HYPERDATATYPE_MAP_STRING_INT64", "map(string, int64)";
        MapStringFloat = 9419, "HYPERDATATYPE_MAP_STRING_FLOAT", "map(string, float)";
        MapInt64Keyonly = 9424, "HYPERDATATYPE_MAP_INT64_KEYONLY", "map(int64)";
        MapInt64String = 9425, "HYPERDATATYPE_MAP_INT64_STRING", "map(int64, string)";
        MapInt64Int64 = 9426, "HYPERDATATYPE_MAP_INT64_INT64", "map(int64, int64)";
        MapInt64Float = 9427, "HYPERDATATYPE_MAP_INT64_FLOAT", "map(int64, float)";
        MapFloatKeyonly = 9432, "HYPERDATATYPE_MAP_FLOAT_KEYONLY", "map(float)";
        MapFloatString = 9433, "HYPERDATATYPE_MAP_FLOAT_STRING", "map(float, string)";
        MapFloatInt64 = 9434, "HYPERDATATYPE_MAP_FLOAT_INT64", "map(float, int64)";
        MapFloatFloat = 9435, "HYPERDATATYPE_MAP_FLOAT_FLOAT", "map(float, float)";
        Garbage = 9727, "HYPERDATATYPE_GARBAGE", "garbage";
    }
}

abi_enum! {
    /// `enum hyperpredicate`.
    Predicate: u32 {
        Fail = 9728, "HYPERPREDICATE_FAIL", "fail";
        Equals = 9729, "HYPERPREDICATE_EQUALS", "equals";
        LessEqual = 9730, "HYPERPREDICATE_LESS_EQUAL", "less-equal";
        GreaterEqual = 9731, "HYPERPREDICATE_GREATER_EQUAL", "greater-equal";
        /// Alias of LENGTH_LESS_EQUAL (its own number, same meaning).
        ContainsLessThan = 9732, "HYPERPREDICATE_CONTAINS_LESS_THAN", "contains-less-than";
        Regex = 9733, "HYPERPREDICATE_REGEX", "regex";
        LengthEquals = 9734, "HYPERPREDICATE_LENGTH_EQUALS", "length-equals";
        LengthLessEqual = 9735, "HYPERPREDICATE_LENGTH_LESS_EQUAL", "length-less-equal";
        LengthGreaterEqual = 9736, "HYPERPREDICATE_LENGTH_GREATER_EQUAL", "length-greater-equal";
        Contains = 9737, "HYPERPREDICATE_CONTAINS", "contains";
    }
}

abi_enum! {
    /// Answers of the coordinator's RPCs (on the wire between the tools and the coordinator).
    CoordCode: u16 {
        Success = 8832, "COORD_SUCCESS", "success";
        Malformed = 8833, "COORD_MALFORMED", "malformed request";
        Duplicate = 8834, "COORD_DUPLICATE", "duplicate";
        NotFound = 8835, "COORD_NOT_FOUND", "not found";
        Initialized = 8836, "COORD_INITIALIZED", "already initialized";
        Uninitialized = 8837, "COORD_UNINITIALIZED", "not initialized";
        TransferInProgress = 8838, "COORD_TRANSFER_IN_PROGRESS", "transfer in progress";
    }
}

impl CoordCode {
    /// How a client reports this coordinator answer.
    pub fn to_returncode(self) -> ReturnCode {
        match self {
            CoordCode::Success => ReturnCode::Success,
            CoordCode::Duplicate => ReturnCode::Duplicate,
            CoordCode::NotFound => ReturnCode::NotFound,
            CoordCode::Initialized | CoordCode::Uninitialized => ReturnCode::CoordFail,
            CoordCode::Malformed | CoordCode::TransferInProgress => ReturnCode::Internal,
        }
    }
}

impl DataType {
    /// The container class: GENERIC, LIST_GENERIC, SET_GENERIC or MAP_GENERIC (`x & 9664`).
    pub fn container(self) -> DataType {
        DataType::from_raw(self as u32 & 9664).unwrap_or(DataType::Garbage)
    }
    /// Element type of a list or set, value type of a map, the type itself for a primitive.
    pub fn elem(self) -> DataType {
        DataType::from_raw(self as u32 & 9223).unwrap_or(DataType::Garbage)
    }
    /// Key type of a map.
    pub fn map_key(self) -> DataType {
        let v = self as u32;
        DataType::from_raw(((v & 56) >> 3) | (v & 9216)).unwrap_or(DataType::Garbage)
    }
    /// string, int64 or float.
    pub fn is_primitive(self) -> bool {
        matches!(self, DataType::String | DataType::Int64 | DataType::Float)
    }
    /// A type an attribute may be declared with.
    pub fn is_attribute_type(self) -> bool {
        use DataType::*;
        match self.container() {
            Generic => self.is_primitive(),
            ListGeneric | SetGeneric => self.elem().is_primitive(),
            MapGeneric => self.map_key().is_primitive() && self.elem().is_primitive(),
            _ => false,
        }
    }
    /// `CREATE_CONTAINER(C, E)`.
    pub fn list_of(elem: DataType) -> DataType {
        DataType::from_raw(9280 | (elem as u32 & 7)).unwrap_or(DataType::Garbage)
    }
    pub fn set_of(elem: DataType) -> DataType {
        DataType::from_raw(9344 | (elem as u32 & 7)).unwrap_or(DataType::Garbage)
    }
    /// `CREATE_CONTAINER2(MAP_GENERIC, K, V)`.
    pub fn map_of(key: DataType, val: DataType) -> DataType {
        DataType::from_raw(9408 | ((key as u32 & 7) << 3) | (val as u32 & 7)).unwrap_or(DataType::Garbage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn container_macros_match_header_math() {
        assert_eq!(DataType::MapStringInt64.container(), DataType::MapGeneric);
        assert_eq!(DataType::MapStringInt64.map_key(), DataType::String);
        assert_eq!(DataType::MapStringInt64.elem(), DataType::Int64);
        assert_eq!(DataType::SetFloat.elem(), DataType::Float);
        assert_eq!(DataType::list_of(DataType::Int64), DataType::ListInt64);
        assert_eq!(DataType::map_of(DataType::Float, DataType::String), DataType::MapFloatString);
        for t in DataType::ALL {
            assert_eq!(DataType::from_raw(*t as u32), Some(*t));
        }
        assert!(!DataType::MapStringKeyonly.is_attribute_type());
        assert!(DataType::MapFloatFloat.is_attribute_type());
        assert!(!DataType::ListGeneric.is_attribute_type());
    }
    #[test]
    fn returncodes_have_no_8518_or_8522() {
        assert!(ReturnCode::from_raw(8518).is_none());
        assert!(ReturnCode::from_raw(8522).is_none());
        assert_eq!(ReturnCode::Offline.symbol(), "HYPERCLIENT_OFFLINE");
    }
}
