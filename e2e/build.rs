include!("../operator/warehouse/build.rs");
