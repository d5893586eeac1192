<?php
echo "OK " . trim(fgets(STDIN)) . "\n";
