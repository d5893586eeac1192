.read schema.sql
SELECT word FROM words;
