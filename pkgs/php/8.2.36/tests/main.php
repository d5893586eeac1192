<?php
require "helper.php";
echo word(), "\n";
