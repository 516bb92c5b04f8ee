using Microsoft.Extensions.Configuration;

namespace Broker.Configuration;

/// <summary>
/// Fills options objects from configuration through their [ConfKey] properties, and checks that a
/// .conf file sets only keys somebody reads. Every problem is collected before anything is thrown, and
/// each names where the value was set (file and line, or environment variable).
/// </summary>
internal static class ConfBinder
{
    /// <summary>Creates a <typeparamref name="T"/> with its defaults and binds it; throws <see cref="ConfigurationException"/> listing every problem.</summary>
    public static T Bind<T>(IConfiguration configuration)
        where T : new()
    {
        var options = new T();
        Bind(configuration, options);
        return options;
    }

    /// <summary>Binds <paramref name="options"/>; throws <see cref="ConfigurationException"/> listing every problem.</summary>
    public static void Bind(IConfiguration configuration, object options) =>
        ConfigurationException.ThrowIfAny(TryBind(configuration, options));

    /// <summary>
    /// Binds every [ConfKey] property of <paramref name="options"/> that the configuration sets; keys it does
    /// not set keep their current value (the default). Returns the problems instead of throwing, so a caller
    /// can gather them from several options classes and the unknown-key check into one report.
    /// <see cref="IValidatableOptions.Validate"/> runs only when every key parsed, so its rules see real values.
    /// </summary>
    public static IReadOnlyList<ConfigurationError> TryBind(IConfiguration configuration, object options)
    {
        var errors = new List<ConfigurationError>();
        TryBind(configuration, options, "", errors);
        return errors;
    }

    /// <summary>Binds the keys <paramref name="prefix"/> + each [ConfKey] (an entry of a [ConfList] has prefix <c>list.N.</c>).</summary>
    private static void TryBind(IConfiguration configuration, object options, string prefix, List<ConfigurationError> errors)
    {
        var before = errors.Count;
        var schema = ConfSchema.For(options.GetType());
        foreach (var info in schema)
        {
            if (TryParse(configuration, info, KeyOf(prefix, info.Key), out var value, errors))
                info.SetValue(options, value);
        }

        foreach (var list in ConfSchema.ListsFor(options.GetType()))
            BindList(configuration, options, list, prefix + list.Key, errors);

        foreach (var map in ConfSchema.MapsFor(options.GetType()))
            BindMap(configuration, options, map, errors);

        if (errors.Count != before)
            return;

        // A [ConfPrefix] class names its keys relative to its prefix, as it declares them; a section relative to itself.
        var classPrefix = ConfSchema.PrefixOf(options.GetType());
        Validate(options, classPrefix is null ? "" : classPrefix + ".");
        foreach (var section in ConfSchema.SectionsFor(options.GetType()))
            Validate(section.ValueOf(options), section.Key.Length == 0 ? "" : section.Key + ".");

        void Validate(object validated, string keyPrefix)
        {
            if (validated is not IValidatableOptions validatable)
                return;
            foreach (var (key, error) in validatable.Validate())
                errors.Add(DescribeRuleError(configuration, options, schema, prefix, KeyOf(keyPrefix, key), error));
        }
    }

    /// <summary>
    /// Parses and range-checks <paramref name="key"/>'s value as <paramref name="info"/> says; false (and no error)
    /// when it is not set, false with an error when it is bad.
    /// </summary>
    private static bool TryParse(IConfiguration configuration, ConfKeyInfo info, string key, out object? value, List<ConfigurationError> errors)
    {
        value = null;
        var path = ConfKeys.ToPath(key);
        var text = configuration[path];
        if (text is null)
            return false;
        var origin = ConfKeys.FindOrigin(configuration, path);
        if (!ConfValues.TryParse(info, text, out value, out var problem))
        {
            errors.Add(new ConfigurationError(origin, key, text, problem));
            return false;
        }
        if (value is IComparable comparable)
        {
            if (info.Min is not null && comparable.CompareTo(info.Min) < 0)
            {
                errors.Add(new ConfigurationError(origin, key, text, $"must be at least {info.MinText}"));
                return false;
            }
            if (info.Max is not null && comparable.CompareTo(info.Max) > 0)
            {
                errors.Add(new ConfigurationError(origin, key, text, $"must be at most {info.MaxText}"));
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Fills a [ConfList] property from the entries <c><paramref name="key"/>.N</c> present (it keeps its default when
    /// none is): each N a whole number from 1, each entry a plain value or an options object bound field by field.
    /// </summary>
    private static void BindList(IConfiguration configuration, object options, ConfListInfo list, string key, List<ConfigurationError> errors)
    {
        var entries = configuration.GetSection(ConfKeys.ToPath(key)).GetChildren().ToList();
        if (entries.Count == 0)
            return;
        var result = (System.Collections.IDictionary)Activator.CreateInstance(list.Property.PropertyType)!;
        foreach (var entry in entries)
        {
            var entryKey = $"{key}.{entry.Key}";
            if (!int.TryParse(entry.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                var (leafKey, leafText) = FirstLeaf(entry, entryKey);
                errors.Add(new ConfigurationError(ConfKeys.FindOrigin(configuration, ConfKeys.ToPath(leafKey)), leafKey, leafText,
                    $"{key}.N: N must be a whole number from 1"));
                continue;
            }
            if (list.Value is { } value)
            {
                if (entry.Value is null)
                {
                    var (leafKey, leafText) = FirstLeaf(entry, entryKey);
                    errors.Add(new ConfigurationError(ConfKeys.FindOrigin(configuration, ConfKeys.ToPath(leafKey)), leafKey, leafText,
                        $"unknown key; entries are {key}.N = value"));
                }
                else if (TryParse(configuration, value, entryKey, out var parsed, errors))
                {
                    result[n] = parsed;
                }
                continue;
            }

            var before = errors.Count;
            CheckFields(configuration, entry, entryKey, $"{key}.N", list.Fields, errors);
            var element = Activator.CreateInstance(list.ElementType)!;
            TryBind(configuration, element, entryKey + ".", errors);
            if (errors.Count == before)
                result[n] = element;
        }
        list.Property.SetValue(options, result);
    }

    /// <summary>
    /// Fills a [ConfMap] property: each name under <c>map.Key</c> binds over the default entry of that name, or a new
    /// entry with the element class's defaults.
    /// </summary>
    private static void BindMap(IConfiguration configuration, object options, ConfMapInfo map, List<ConfigurationError> errors)
    {
        var entries = (System.Collections.IDictionary)map.Property.GetValue(options)!;
        foreach (var entry in configuration.GetSection(ConfKeys.ToPath(map.Key)).GetChildren())
        {
            var name = entry.Key.ToLowerInvariant();
            var entryKey = $"{map.Key}.{name}";
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                var (leafKey, leafText) = FirstLeaf(entry, entryKey);
                errors.Add(new ConfigurationError(ConfKeys.FindOrigin(configuration, ConfKeys.ToPath(leafKey)), leafKey, leafText,
                    $"{map.Key}.<name>: a name is letters, digits and '_'"));
                continue;
            }
            CheckFields(configuration, entry, entryKey, $"{map.Key}.<name>", map.Fields.Where(f => f.Key.Length > 0).ToList(), errors);
            var element = entries.Contains(name) ? entries[name]! : Activator.CreateInstance(map.ElementType)!;
            TryBind(configuration, element, entryKey + ".", errors);
            entries[name] = element;
        }
    }

    /// <summary>Every value under an entry must be one of its <paramref name="fields"/> (dotted, relative to the entry).</summary>
    private static void CheckFields(IConfiguration configuration, IConfigurationSection entry, string entryKey, string pattern,
        IReadOnlyList<ConfKeyInfo> fields, List<ConfigurationError> errors)
    {
        foreach (var child in entry.GetChildren())
        {
            foreach (var (leafKey, leafText) in Leaves(child, $"{entryKey}.{child.Key}"))
            {
                var field = leafKey[(entryKey.Length + 1)..];
                if (fields.Any(f => string.Equals(f.Key, field, StringComparison.OrdinalIgnoreCase)))
                    continue;
                var suggestion = Suggest(field, fields.Select(f => f.Key));
                errors.Add(new ConfigurationError(ConfKeys.FindOrigin(configuration, ConfKeys.ToPath(leafKey)), leafKey, leafText,
                    suggestion is null
                        ? $"unknown key; the fields of {pattern} are {string.Join(", ", fields.Select(f => f.Key))}"
                        : $"unknown key; did you mean {entryKey}.{suggestion}?"));
            }
        }
    }

    /// <summary>Every value at or under <paramref name="section"/> with its dotted key.</summary>
    private static IEnumerable<(string Key, string? Text)> Leaves(IConfigurationSection section, string key)
    {
        if (section.Value is not null)
            yield return (key, section.Value);
        foreach (var child in section.GetChildren())
        {
            foreach (var leaf in Leaves(child, $"{key}.{child.Key}"))
                yield return leaf;
        }
    }

    /// <summary><paramref name="prefix"/> (<c>list.N.</c>, <c>map.name.</c>, or empty) + a relative key; the empty key is the entry itself.</summary>
    private static string KeyOf(string prefix, string relativeKey) => relativeKey.Length == 0 ? prefix.TrimEnd('.') : prefix + relativeKey;

    /// <summary>The first value at or under <paramref name="section"/>, for naming where a bad entry was written.</summary>
    private static (string Key, string? Text) FirstLeaf(IConfigurationSection section, string key) =>
        Leaves(section, key).DefaultIfEmpty((key, null)).First();

    /// <summary>Every key the given options types bind.</summary>
    public static IReadOnlySet<string> KnownKeys(params Type[] optionsTypes)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var type in optionsTypes)
        {
            foreach (var info in ConfSchema.For(type))
            {
                keys.Add(info.Key);
            }

            foreach (var list in ConfSchema.ListsFor(type))
            {
                keys.UnionWith(list.KeyPatterns);
            }

            foreach (var map in ConfSchema.MapsFor(type))
            {
                keys.UnionWith(map.KeyPatterns);
            }
        }

        return keys;
    }

    /// <summary>
    /// The strict check for broker.conf: every key of every .conf file in <paramref name="configuration"/>
    /// must be one of <paramref name="knownKeys"/>. Environment variables are not checked: BROKER_* may
    /// carry keys of plugins that are not loaded yet.
    /// </summary>
    public static IReadOnlyList<ConfigurationError> CheckUnknownKeys(IConfigurationRoot configuration, IEnumerable<string> knownKeys)
    {
        var known = knownKeys as IReadOnlyCollection<string> ?? knownKeys.ToArray();
        var errors = new List<ConfigurationError>();
        foreach (var provider in configuration.Providers)
        {
            if (provider is ConfFileConfigurationProvider { File: { } file })
            {
                errors.AddRange(CheckUnknownKeys(file, known));
            }
        }

        return errors;
    }

    /// <summary>
    /// Every <c>BROKER_*</c> environment variable that sets no known key, as a warning naming it and the closest known
    /// key: a misspelt variable in a container's environment would otherwise change nothing and say nothing. Keys
    /// <paramref name="ownedElsewhere"/> claims (plugins' keys, read when the plugin loads) are left alone.
    /// </summary>
    public static IReadOnlyList<string> UnknownEnvironmentVariables(
        IConfigurationRoot configuration, IEnumerable<string> knownKeys, Func<string, bool> ownedElsewhere)
    {
        var known = knownKeys as IReadOnlyCollection<string> ?? knownKeys.ToArray();
        var set = new HashSet<string>(known, StringComparer.OrdinalIgnoreCase);
        var warnings = new List<string>();
        foreach (var provider in configuration.Providers)
        {
            if (provider is not BrokerEnvironmentConfigurationProvider environment)
                continue;
            foreach (var (key, variable) in environment.Variables)
            {
                if (IsKnown(set, key) || ownedElsewhere(key))
                    continue;
                var suggestion = Suggest(key, known);
                var closest = suggestion is null ? "" : $"; did you mean {ConfKeys.ToVariable(suggestion)} ({suggestion})?";
                warnings.Add($"environment variable {variable} sets no known key ({key}){closest}");
            }
        }
        return warnings;
    }

    /// <summary>Every key of <paramref name="file"/> that is not in <paramref name="knownKeys"/>, with a suggestion when one known key is close.</summary>
    public static IReadOnlyList<ConfigurationError> CheckUnknownKeys(ConfFile file, IEnumerable<string> knownKeys)
    {
        var known = new HashSet<string>(knownKeys, StringComparer.OrdinalIgnoreCase);
        var errors = new List<ConfigurationError>();
        foreach (var entry in file.Entries)
        {
            if (IsKnown(known, entry.Key))
            {
                continue;
            }

            var suggestion = Suggest(entry.Key, known);
            var problem = suggestion is null ? "unknown key" : $"unknown key; did you mean {suggestion}?";
            errors.Add(new ConfigurationError(ConfOrigin.InFile(file.Path, entry.Line), entry.Key, null, problem));
        }

        return errors;
    }

    /// <summary>
    /// Whether <paramref name="key"/> is one of <paramref name="known"/>: a key as written, or a pattern a [ConfList]
    /// (<c>subscription.N.topic</c>: N a number) or a [ConfMap] (<c>listener.tcp.*.backlog</c>: * a name) binds.
    /// </summary>
    private static bool IsKnown(IReadOnlySet<string> known, string key)
    {
        if (known.Contains(key))
            return true;
        var levels = key.Split('.');
        foreach (var pattern in known)
        {
            if (!pattern.Contains(".N", StringComparison.Ordinal) && !pattern.Contains(".*", StringComparison.Ordinal))
                continue;
            var parts = pattern.Split('.');
            if (parts.Length != levels.Length)
                continue;
            var match = true;
            for (var i = 0; i < parts.Length && match; i++)
            {
                match = parts[i] switch
                {
                    "N" => levels[i].Length > 0 && levels[i].All(char.IsAsciiDigit),
                    "*" => levels[i].Length > 0,
                    _ => string.Equals(parts[i], levels[i], StringComparison.OrdinalIgnoreCase),
                };
            }
            if (match)
                return true;
        }
        return false;
    }

    /// <summary>
    /// The known key closest to <paramref name="key"/> by edit distance, if it is close enough to be a typo
    /// (at most a third of the key's length, and at most 3 edits) and no other key is as close.
    /// </summary>
    internal static string? Suggest(string key, IEnumerable<string> knownKeys)
    {
        var limit = Math.Min(3, Math.Max(1, key.Length / 3));
        string? best = null;
        var bestDistance = int.MaxValue;
        var tied = false;
        foreach (var candidate in knownKeys)
        {
            var distance = EditDistance(key.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
                tied = false;
            }
            else if (distance == bestDistance)
            {
                tied = true;
            }
        }

        return best is not null && bestDistance <= limit && !tied ? best : null;
    }

    /// <summary>Optimal string alignment distance: Levenshtein plus swapping two neighbours, the commonest typo.</summary>
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }

    private static ConfigurationError DescribeRuleError(
        IConfiguration configuration, object options, IReadOnlyList<ConfKeyInfo> schema, string prefix, string relativeKey, string error)
    {
        var key = KeyOf(prefix, relativeKey);
        var path = ConfKeys.ToPath(key);
        var text = configuration[path];
        if (text is not null)
        {
            return new ConfigurationError(ConfKeys.FindOrigin(configuration, path), key, text, error);
        }

        // A field an entry of a [ConfList] lacks: named where the entry was written, by its first line.
        if (prefix.TrimEnd('.').Split('.')[^1].All(char.IsAsciiDigit) && prefix.Length > 0
            && FirstLeaf(configuration.GetSection(ConfKeys.ToPath(prefix.TrimEnd('.'))), prefix.TrimEnd('.')) is (var leafKey, { } leafText))
        {
            return new ConfigurationError(ConfKeys.FindOrigin(configuration, ConfKeys.ToPath(leafKey)), leafKey, leafText, $"{key} {error}");
        }

        // The key kept its default: show the default so the operator sees what to change.
        var info = schema.FirstOrDefault(i => string.Equals(i.Key, relativeKey, StringComparison.OrdinalIgnoreCase));
        var value = info is null ? null : ConfValues.Format(info, info.GetValue(options)) ?? "";
        return new ConfigurationError(null, key, value, error);
    }
}
