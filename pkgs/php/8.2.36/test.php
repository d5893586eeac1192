<?php
echo "O" . "K" . PHP_EOL;
