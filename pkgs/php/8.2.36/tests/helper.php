<?php
function word() { return "OK"; }
