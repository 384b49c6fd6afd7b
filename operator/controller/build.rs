include!("../warehouse/build.rs");
