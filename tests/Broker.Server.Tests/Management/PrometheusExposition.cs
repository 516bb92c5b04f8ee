using System.Globalization;
using System.Text.RegularExpressions;

namespace Broker.Server.Tests.Management;

/// <summary>
/// A strict reader of Prometheus' text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
/// every line is a <c># HELP name text</c>, a <c># TYPE name type</c> (once per metric, before its samples), another
/// comment, or a sample <c>name{label="value",...} value [timestamp]</c>; the text ends with a line feed.
/// Throws <see cref="FormatException"/> naming the line that breaks a rule.
/// </summary>
internal static partial class PrometheusExposition
{
    [GeneratedRegex(@"^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[a-zA-Z_][a-zA-Z0-9_]*=""(\\[\\""n]|[^\\""\n])*""(,[a-zA-Z_][a-zA-Z0-9_]*=""(\\[\\""n]|[^\\""\n])*"")*,?)?\})? (?<value>\S+)( (?<ts>-?[0-9]+))?$")]
    private static partial Regex Sample();

    private static readonly HashSet<string> Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    /// <summary>The samples by name (labels ignored; the last one wins).</summary>
    public static Dictionary<string, double> Parse(string text)
    {
        if (text.Length > 0 && !text.EndsWith('\n'))
            throw new FormatException("the exposition must end with a line feed");
        var typed = new Dictionary<string, string>(StringComparer.Ordinal);
        var helped = new HashSet<string>(StringComparer.Ordinal);
        var sampled = new HashSet<string>(StringComparer.Ordinal);
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i];
            var where = $"line {i + 1} '{line}'";
            if (line.Length == 0)
                continue;
            if (line.StartsWith('#'))
            {
                var parts = line.Split(' ', 4);
                if (parts.Length >= 3 && parts[0] == "#" && parts[1] is "HELP" or "TYPE")
                {
                    var name = parts[2];
                    if (!MetricName().IsMatch(name))
                        throw new FormatException($"{where}: bad metric name");
                    if (parts[1] == "TYPE")
                    {
                        if (parts.Length != 4 || !Types.Contains(parts[3]))
                            throw new FormatException($"{where}: TYPE needs one of {string.Join('|', Types)}");
                        if (sampled.Contains(name))
                            throw new FormatException($"{where}: TYPE after samples of {name}");
                        if (!typed.TryAdd(name, parts[3]))
                            throw new FormatException($"{where}: second TYPE for {name}");
                    }
                    else if (!helped.Add(name))
                    {
                        throw new FormatException($"{where}: second HELP for {name}");
                    }
                }
                continue;
            }
            var match = Sample().Match(line);
            if (!match.Success)
                throw new FormatException($"{where}: not a sample");
            var sample = match.Groups["name"].Value;
            var valueText = match.Groups["value"].Value;
            double value;
            if (valueText is "NaN" or "+Inf" or "-Inf")
                value = valueText == "NaN" ? double.NaN : valueText == "+Inf" ? double.PositiveInfinity : double.NegativeInfinity;
            else if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
                throw new FormatException($"{where}: value '{valueText}' is not a number");
            sampled.Add(sample);
            // A counter's samples may be named <name>_total after "# TYPE <name> counter".
            if (sample.EndsWith("_total", StringComparison.Ordinal))
                sampled.Add(sample[..^"_total".Length]);
            samples[sample] = value;
        }
        return samples;
    }
}
