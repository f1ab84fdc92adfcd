<?php
// Runs TinyCert's own PHP client (a copy whose base URL points at the simulator) through a list
// of calls and prints what each returned and the client's last_error(), as JSON.
//
//   php tinycert_driver.php <client.php> <plan.json>
//
// plan: {"apikey", "calls": [{"call": "<public method>", "args": [...], "save"?: "<name>"}]}
// An argument "@name" is the result saved under that name. The call "do_request" reaches the
// client's private request method (via reflection) to sign and send any parameter set.
require_once ($argv [1]);
$plan = json_decode (file_get_contents ($argv [2]), true);
$tc = new TinyCert ($plan ['apikey']);
$saved = array ();
$out = array ();
foreach ($plan ['calls'] as $step)
{
	$args = array ();
	foreach ($step ['args'] as $arg)
		$args [] = (is_string ($arg) && strlen ($arg) > 1 && $arg [0] === '@') ? $saved [substr ($arg, 1)] : $arg;
	if ($step ['call'] === 'do_request')
	{
		$method = new ReflectionMethod ('TinyCert', 'do_request');
		$method->setAccessible (true);
		$result = $method->invokeArgs ($tc, $args);
	} else {
		$result = call_user_func_array (array ($tc, $step ['call']), $args);
	}
	if (isset ($step ['save'])) $saved [$step ['save']] = $result;
	// Binary answers (a PKCS#12 archive) travel as base64.
	if (is_string ($result) && !preg_match ('//u', $result)) $result = array ('base64' => base64_encode ($result));
	$out [] = array ('call' => $step ['call'], 'result' => $result, 'error' => $tc->last_error ());
}
echo json_encode ($out, JSON_UNESCAPED_SLASHES), "\n";
