MODEL (name mc.quirk_star_without_alias, kind FULL);
SELECT @STAR(mc.src) FROM mc.src AS f
