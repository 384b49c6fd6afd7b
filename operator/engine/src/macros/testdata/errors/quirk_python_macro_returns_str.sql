MODEL (name mc.quirk_python_macro_returns_str, kind FULL);
SELECT @var_from_python() AS vp
