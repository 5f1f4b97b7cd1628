<?php
// Reference renderer for the Twig differential tests: Debian's php-twig.
// stdin: {"cases": [{"template": "...", "context": {...}, "autoescape": false|"html"}]}
// stdout: [{"ok": true, "out": "..."} | {"ok": false, "error": "..."}]
declare(strict_types=1);

$autoload = getenv('TWIG_AUTOLOAD') ?: '/usr/share/php/Twig/autoload.php';
require_once $autoload;
date_default_timezone_set('UTC');
error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED);

$input = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$results = [];
// Each case gets its own template name: Twig reuses a compiled class per (name, source).
foreach ($input['cases'] as $i => $case) {
    $loader = new \Twig\Loader\ArrayLoader(["t$i" => $case['template']]);
    $twig = new \Twig\Environment($loader, [
        'autoescape' => $case['autoescape'] ?? false,
        'strict_variables' => false,
        'cache' => false,
    ]);
    set_error_handler(function (int $no, string $str) { throw new \ErrorException($str, 0, $no); });
    try {
        $results[] = ['ok' => true, 'out' => $twig->render("t$i", $case['context'] ?? [])];
    } catch (\Throwable $e) {
        $results[] = ['ok' => false, 'error' => get_class($e) . ': ' . $e->getMessage()];
    } finally {
        restore_error_handler();
    }
}
echo json_encode($results, JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
