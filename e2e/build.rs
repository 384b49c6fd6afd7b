include!("../operator/build.rs");
