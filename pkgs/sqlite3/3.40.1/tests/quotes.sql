SELECT ?1 = 'it''s "q" \n' AND typeof(?2) = 'text' AND ?3 IS NULL;
SELECT 'OK';
