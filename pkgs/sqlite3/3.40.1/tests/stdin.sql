CREATE TABLE input (line TEXT);
.import /tmp/stdin input
SELECT 'OK ' || line FROM input LIMIT 1;
