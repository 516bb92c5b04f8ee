namespace Broker.Plugins.AuthBuiltin;

/// <summary>Which files an import accepts.</summary>
internal enum ImportFormat
{
    /// <summary>Any hash this plugin verifies.</summary>
    Auto,
    /// <summary>mosquitto_passwd's: <c>$7$</c> (PBKDF2-SHA512) or <c>$6$</c> (salted SHA-512).</summary>
    Mosquitto,
    /// <summary>The broker's etc/passwd: <c>$pbkdf2-sha512$</c>.</summary>
    Passwd,
}

/// <summary>
/// Reads a password file to import: one <c>user:hash</c> per line (as mosquitto_passwd and the broker's etc/passwd both
/// write), blank lines and <c>#</c> comments skipped. Hashes are kept as they are, so the users' passwords keep working
/// without anyone knowing them.
/// </summary>
internal static class PasswordImport
{
    public static bool TryParseFormat(string text, out ImportFormat format)
    {
        format = text switch { "auto" => ImportFormat.Auto, "mosquitto" => ImportFormat.Mosquitto, "passwd" => ImportFormat.Passwd, _ => (ImportFormat)(-1) };
        return format >= 0;
    }

    /// <summary>The users of <paramref name="content"/> (not superusers); <paramref name="problem"/> names the first bad line.</summary>
    public static bool TryParse(string content, ImportFormat format, out List<User> users, out string problem)
    {
        users = [];
        problem = "";
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var lines = content.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                problem = $"line {i + 1}: expected user:hash";
                return false;
            }
            var (user, hash) = (line[..colon], line[(colon + 1)..]);
            if (!StoredPassword.TryParse(hash, out var stored, out var why))
            {
                problem = $"line {i + 1} ({user}): {why}";
                return false;
            }
            if (!Fits(format, hash))
            {
                problem = $"line {i + 1} ({user}): not a {(format == ImportFormat.Mosquitto ? "mosquitto_passwd ($7$ or $6$)" : "etc/passwd ($pbkdf2-sha512$)")} hash; use format auto to take any known hash";
                return false;
            }
            if (seen.TryGetValue(user, out var first))
            {
                problem = $"line {i + 1}: user '{user}' is already on line {first}";
                return false;
            }
            seen.Add(user, i + 1);
            users.Add(new User(user, stored, IsSuperuser: false));
        }
        return true;
    }

    private static bool Fits(ImportFormat format, string hash) => format switch
    {
        ImportFormat.Mosquitto => hash.StartsWith("$7$", StringComparison.Ordinal) || hash.StartsWith("$6$", StringComparison.Ordinal),
        ImportFormat.Passwd => hash.StartsWith("$pbkdf2-sha512$", StringComparison.Ordinal),
        _ => true,
    };
}
