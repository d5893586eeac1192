<?php
echo mb_strtoupper("o") . "K" . PHP_EOL;
