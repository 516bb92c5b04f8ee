using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Broker.Configuration;

/// <summary>
/// The value syntax of .conf files, both ways: parsing what operators write and formatting defaults back
/// so the rendered .conf shows <c>1MB</c> and <c>15s</c> rather than 1048576 and 00:00:15.
/// </summary>
internal static partial class ConfValues
{
    private const string SizeExpectation = "expected a size such as 64KB or 1MB";
    private const string DurationExpectation = "expected a duration such as 500ms, 15s, 2m, 1h or 1d";

    private static readonly (string Suffix, long Factor)[] SizeUnits =
    [
        ("GB", 1L << 30),
        ("MB", 1L << 20),
        ("KB", 1L << 10),
    ];

    private static readonly (string Suffix, long Ticks)[] DurationUnits =
    [
        ("d", TimeSpan.TicksPerDay),
        ("h", TimeSpan.TicksPerHour),
        ("m", TimeSpan.TicksPerMinute),
        ("s", TimeSpan.TicksPerSecond),
        ("ms", TimeSpan.TicksPerMillisecond),
    ];

    /// <summary>Parses <paramref name="text"/> for <paramref name="info"/>; on failure <paramref name="problem"/> says what was expected.</summary>
    public static bool TryParse(ConfKeyInfo info, string text, out object? value, out string problem)
    {
        value = null;
        problem = "";
        if (info.Kind == ConfValueKind.String)
        {
            // Kept exactly: quotes in a .conf file exist to preserve surrounding spaces.
            value = text;
            return true;
        }

        text = text.Trim();

        if (text.Length == 0 && info.IsNullable)
        {
            return true;
        }

        switch (info.Kind)
        {
            case ConfValueKind.Bool:
                return TryParseBool(text, out value, out problem);
            case ConfValueKind.Double:
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
                {
                    value = d;
                    return true;
                }

                problem = "expected a number such as 10 or 0.75";
                return false;
            case ConfValueKind.Duration:
                if (TryParseDuration(text, out var duration))
                {
                    value = duration;
                    return true;
                }

                problem = DurationExpectation;
                return false;
            case ConfValueKind.Enum:
                return TryParseEnum(info.ValueType, text, out value, out problem);
            default:
                return TryParseInteger(info, text, out value, out problem);
        }
    }

    /// <summary>Formats <paramref name="value"/> as an operator would write it; null stays null.</summary>
    public static string? Format(ConfKeyInfo info, object? value) => value switch
    {
        null => null,
        string s => s,
        bool b => b ? "true" : "false",
        TimeSpan t => FormatDuration(t),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        Enum e => ToSnakeCase(e.ToString()),
        _ when info.Unit == ConfUnit.Bytes => FormatSize(Convert.ToInt64(value, CultureInfo.InvariantCulture)),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>The .conf spelling of an enum member: <c>RoundRobin</c> is <c>round_robin</c>.</summary>
    public static string ToSnakeCase(string name)
    {
        var result = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c) && i > 0)
            {
                var previous = name[i - 1];
                var nextIsLower = i + 1 < name.Length && char.IsLower(name[i + 1]);
                if (char.IsLower(previous) || char.IsDigit(previous) || (char.IsUpper(previous) && nextIsLower))
                {
                    result.Append('_');
                }
            }

            result.Append(char.ToLowerInvariant(c));
        }

        return result.ToString();
    }

    /// <summary>The names an operator may write for <paramref name="enumType"/>, in declaration order.</summary>
    public static IEnumerable<string> EnumNames(Type enumType) => Enum.GetNames(enumType).Select(ToSnakeCase);

    private static bool TryParseBool(string text, out object? value, out string problem)
    {
        problem = "";
        value = text.ToLowerInvariant() switch
        {
            "true" or "on" or "1" => true,
            "false" or "off" or "0" => false,
            _ => null,
        };
        if (value is null)
        {
            problem = "expected true, false, on, off, 1 or 0";
            return false;
        }

        return true;
    }

    /// <summary>Matches case-insensitively ignoring '_', so hash_clientid, hash_client_id and HashClientId all name HashClientId.</summary>
    private static bool TryParseEnum(Type enumType, string text, out object? value, out string problem)
    {
        problem = "";
        var wanted = text.Replace("_", "", StringComparison.Ordinal);
        foreach (var name in Enum.GetNames(enumType))
        {
            if (wanted.Length > 0 && string.Equals(name, wanted, StringComparison.OrdinalIgnoreCase))
            {
                value = Enum.Parse(enumType, name);
                return true;
            }
        }

        value = null;
        problem = $"expected one of {string.Join(", ", EnumNames(enumType))}";
        return false;
    }

    private static bool TryParseInteger(ConfKeyInfo info, string text, out object? value, out string problem)
    {
        value = null;
        var (min, max) = info.Kind switch
        {
            ConfValueKind.Int32 => ((long)int.MinValue, (long)int.MaxValue),
            ConfValueKind.UInt32 => (0L, (long)uint.MaxValue),
            ConfValueKind.UInt16 => (0L, (long)ushort.MaxValue),
            _ => (long.MinValue, long.MaxValue),
        };

        long number;
        if (info.Unit == ConfUnit.Bytes)
        {
            if (!TryParseSize(text, out number, out var overflow))
            {
                problem = overflow ? $"too large, at most {FormatSize(max)}" : SizeExpectation;
                return false;
            }
        }
        else if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out number))
        {
            problem = IntegerPattern().IsMatch(text)
                ? $"expected a whole number from {min} to {max}"
                : "expected a whole number";
            return false;
        }

        if (number < min || number > max)
        {
            problem = info.Unit == ConfUnit.Bytes
                ? (number < 0 ? SizeExpectation : $"too large, at most {FormatSize(max)}")
                : $"expected a whole number from {min} to {max}";
            return false;
        }

        problem = "";
        value = info.Kind switch
        {
            ConfValueKind.Int32 => (int)number,
            ConfValueKind.UInt32 => (uint)number,
            ConfValueKind.UInt16 => (ushort)number,
            _ => (object)number,
        };
        return true;
    }

    /// <summary>"512", "512B", "64KB", "1MB", "2GB" (binary, any case).</summary>
    internal static bool TryParseSize(string text, out long bytes, out bool overflow)
    {
        bytes = 0;
        overflow = false;
        var match = SizePattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var factor = match.Groups[2].Value.ToUpperInvariant() switch
        {
            "KB" => 1L << 10,
            "MB" => 1L << 20,
            "GB" => 1L << 30,
            _ => 1L,
        };
        if (!long.TryParse(match.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number > long.MaxValue / factor)
        {
            overflow = true;
            return false;
        }

        bytes = number * factor;
        return true;
    }

    internal static string FormatSize(long bytes)
    {
        if (bytes != 0)
        {
            foreach (var (suffix, factor) in SizeUnits)
            {
                if (bytes % factor == 0)
                {
                    return (bytes / factor).ToString(CultureInfo.InvariantCulture) + suffix;
                }
            }
        }

        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>"15s", "500ms", "1h30m", "1.5s"; a bare number is seconds.</summary>
    internal static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (BareNumberPattern().IsMatch(text))
        {
            return TryTicks(text, TimeSpan.TicksPerSecond, out duration);
        }

        var parts = DurationPartPattern().Matches(text);
        var covered = 0;
        foreach (Match part in parts)
        {
            if (part.Index != covered)
            {
                return false;
            }

            covered += part.Length;
        }

        if (parts.Count == 0 || covered != text.Length)
        {
            return false;
        }

        var total = TimeSpan.Zero;
        foreach (Match part in parts)
        {
            var ticksPerUnit = part.Groups[2].Value.ToLowerInvariant() switch
            {
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => TimeSpan.TicksPerDay,
            };
            if (!TryTicks(part.Groups[1].Value, ticksPerUnit, out var piece) || TimeSpan.MaxValue - total < piece)
            {
                return false;
            }

            total += piece;
        }

        duration = total;
        return true;
    }

    private static bool TryTicks(string number, long ticksPerUnit, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            return false;
        }

        var ticks = amount * ticksPerUnit;
        if (ticks > long.MaxValue)
        {
            return false;
        }

        duration = TimeSpan.FromTicks((long)ticks);
        return true;
    }

    /// <summary>The largest unit that divides exactly; compound ("1h30m") only when none does.</summary>
    internal static string FormatDuration(TimeSpan duration)
    {
        var ticks = duration.Ticks;
        if (ticks == 0)
        {
            return "0s";
        }

        foreach (var (suffix, perUnit) in DurationUnits)
        {
            if (ticks % perUnit == 0)
            {
                return (ticks / perUnit).ToString(CultureInfo.InvariantCulture) + suffix;
            }
        }

        // Below a millisecond: write fractional seconds, which parse back exactly.
        return ((decimal)ticks / TimeSpan.TicksPerSecond).ToString(CultureInfo.InvariantCulture) + "s";
    }

    [GeneratedRegex(@"^(\d+)\s*(B|KB|MB|GB)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"(\d+(?:\.\d+)?)(ms|s|m|h|d)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex DurationPartPattern();

    [GeneratedRegex(@"^\d+(?:\.\d+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex BareNumberPattern();

    [GeneratedRegex(@"^[+-]?\d+$", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerPattern();
}
