MODEL (name mc.quirk_tuple_literal, kind FULL);
@DEF(tup, (1, 2));
SELECT @tup AS tup
