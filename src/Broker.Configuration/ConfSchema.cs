using System.Collections.Concurrent;
using System.Reflection;

namespace Broker.Configuration;

/// <summary>The shapes of value a [ConfKey] property can hold.</summary>
internal enum ConfValueKind
{
    String,
    Bool,
    Int32,
    Int64,
    UInt32,
    UInt16,
    Double,
    Duration,
    Enum,
}

/// <summary>One [ConfKey] property, checked once: its kind, unit and parsed bounds.</summary>
internal sealed record ConfKeyInfo
{
    public required string Key { get; init; }

    public required string Description { get; init; }

    public required PropertyInfo Property { get; init; }

    public required ConfValueKind Kind { get; init; }

    public required ConfUnit Unit { get; init; }

    /// <summary>The property type without Nullable; the enum type for <see cref="ConfValueKind.Enum"/>.</summary>
    public required Type ValueType { get; init; }

    /// <summary>Nullable value type, or a string: an empty value means "not set".</summary>
    public required bool IsNullable { get; init; }

    public string? MinText { get; init; }

    public IComparable? Min { get; init; }

    public string? MaxText { get; init; }

    public IComparable? Max { get; init; }

    public string? Example { get; init; }

    /// <summary>
    /// The [ConfSection] properties leading from the options object to the one that holds <see cref="Property"/>,
    /// outermost first; empty for a key of the options class itself.
    /// </summary>
    public IReadOnlyList<PropertyInfo> Sections { get; init; } = [];

    /// <summary>The configuration path, <c>a:b:c</c> for <c>a.b.c</c>.</summary>
    public string Path => ConfKeys.ToPath(Key);

    /// <summary>The key's value in <paramref name="options"/>, through its sections.</summary>
    public object? GetValue(object options) => Property.GetValue(Holder(options));

    /// <summary>Sets the key's value in <paramref name="options"/>, through its sections.</summary>
    public void SetValue(object options, object? value) => Property.SetValue(Holder(options), value);

    private object Holder(object options) => ConfSchema.Follow(options, Sections);
}

/// <summary>
/// One [ConfSection] property, found at any depth: its full key (relative to the options class, prefix included) and
/// the properties leading to its object.
/// </summary>
internal sealed record ConfSectionInfo(string Key, IReadOnlyList<PropertyInfo> Path)
{
    /// <summary>The section's object in <paramref name="options"/>.</summary>
    public object ValueOf(object options) => ConfSchema.Follow(options, Path);
}

/// <summary>
/// One [ConfList] property: entries <c>Key.N</c> of <see cref="ElementType"/>, each either one plain value
/// (<see cref="Value"/>, keys <c>Key.N</c>) or an options object (<see cref="Fields"/>, keys <c>Key.N.field</c>).
/// </summary>
internal sealed record ConfListInfo(string Key, string Description, PropertyInfo Property, Type ElementType,
    ConfKeyInfo? Value, IReadOnlyList<ConfKeyInfo> Fields)
{
    /// <summary>The keys it binds as patterns, N standing for the number: <c>subscription.N.topic</c>, or <c>rewrite.rule.N</c>.</summary>
    public IEnumerable<string> KeyPatterns => Value is not null ? [Key + ".N"] : Fields.Select(f => $"{Key}.N.{f.Key}");
}

/// <summary>
/// One [ConfMap] property: named entries <c>Key.&lt;name&gt;</c> of <see cref="ElementType"/>, whose <see cref="Fields"/>
/// are relative to the entry (the empty key being the entry's own value).
/// </summary>
internal sealed record ConfMapInfo(string Key, string Description, PropertyInfo Property, Type ElementType, IReadOnlyList<ConfKeyInfo> Fields)
{
    /// <summary>The keys it binds as patterns, * standing for a name: <c>listener.tcp.*</c>, <c>listener.tcp.*.backlog</c>.</summary>
    public IEnumerable<string> KeyPatterns => Fields.Select(f => f.Key.Length == 0 ? Key + ".*" : $"{Key}.*.{f.Key}");

    /// <summary>The full key of <paramref name="field"/> of the entry <paramref name="name"/>.</summary>
    public string KeyOf(string name, ConfKeyInfo field) => field.Key.Length == 0 ? $"{Key}.{name}" : $"{Key}.{name}.{field.Key}";
}

/// <summary>
/// Reads the [ConfKey] properties of an options type. A misdeclared property (a unit that does not fit
/// its type, a bound that does not parse, an unsupported type) is a programming error and throws
/// <see cref="InvalidOperationException"/> the first time the type is used, so a test that renders the
/// docs catches it.
/// </summary>
internal static class ConfSchema
{
    private static readonly ConcurrentDictionary<Type, IReadOnlyList<ConfKeyInfo>> Cache = new();

    /// <remarks>
    /// Types of collectible assemblies (plugins) are never cached: a static reference to one would keep its
    /// plugin's load context alive after unload.
    /// </remarks>
    public static IReadOnlyList<ConfKeyInfo> For(Type optionsType) =>
        optionsType.Assembly.IsCollectible ? Build(optionsType) : Cache.GetOrAdd(optionsType, Build);

    private static IReadOnlyList<ConfKeyInfo> Build(Type optionsType)
    {
        var keys = new List<ConfKeyInfo>();
        var prefix = PrefixOf(optionsType);
        foreach (var property in InDeclarationOrder(optionsType))
        {
            var attribute = property.GetCustomAttribute<ConfKeyAttribute>(inherit: true);
            if (attribute is not null)
            {
                Add(Describe(optionsType, property, attribute) with { Key = Prefixed(prefix, attribute.Key) });
            }
            else if (SectionOf(optionsType, property) is { } section)
            {
                // A section's keys stand at its place, under its key; its own value (the empty key) is the section's key.
                foreach (var inner in For(property.PropertyType))
                    Add(inner with { Key = Prefixed(Prefixed(prefix, section), inner.Key), Sections = [property, .. inner.Sections] });
            }

            void Add(ConfKeyInfo info)
            {
                if (keys.Any(k => string.Equals(k.Key, info.Key, StringComparison.OrdinalIgnoreCase)))
                    throw new InvalidOperationException($"{optionsType.Name}.{property.Name}: key {info.Key} is bound twice.");
                keys.Add(info);
            }
        }

        // An entry's own value (the empty key) comes first, as it reads first in the .conf.
        return [.. keys.OrderBy(k => k.Key.Length == 0 ? 0 : 1)];
    }

    /// <summary>
    /// The class's [ConfPrefix] (most derived wins), checked; null when it has none. Keys, lists and maps of a prefixed
    /// class are described with the prefix, so every consumer of the schema (binder, unknown-key check, docs) sees full keys.
    /// </summary>
    public static string? PrefixOf(Type optionsType)
    {
        if (optionsType.GetCustomAttribute<ConfPrefixAttribute>(inherit: true) is not { } attribute)
            return null;
        if (!ConfFile.IsValidKey(attribute.Prefix))
            throw new InvalidOperationException($"{optionsType.Name} [ConfPrefix(\"{attribute.Prefix}\")]: invalid prefix.");
        return attribute.Prefix;
    }

    /// <summary>
    /// <paramref name="prefix"/>.<paramref name="key"/>; the empty key is the prefix itself, and no (or the empty) prefix
    /// leaves the key as it is (an unnamed section's keys stand at its parent's level).
    /// </summary>
    private static string Prefixed(string? prefix, string key) =>
        string.IsNullOrEmpty(prefix) ? key : key.Length == 0 ? prefix : $"{prefix}.{key}";

    /// <summary>
    /// Declaration order, so the rendered .conf reads in the order the options class was written. Metadata tokens
    /// order properties within one module only: properties inherited from a class of another assembly (a plugin's
    /// subclass of a shared options class) come first, base class before derived.
    /// </summary>
    private static IEnumerable<PropertyInfo> InDeclarationOrder(Type optionsType) =>
        optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .OrderBy(p => p.Module == optionsType.Module ? 1 : 0)
            .ThenBy(p => p.Module == optionsType.Module ? 0 : -Depth(optionsType, p.DeclaringType))
            .ThenBy(p => p.MetadataToken);

    /// <summary>How many classes up from <paramref name="type"/> <paramref name="ancestor"/> is (0 for itself).</summary>
    private static int Depth(Type type, Type? ancestor)
    {
        var depth = 0;
        for (var t = type; t is not null && t != ancestor; t = t.BaseType)
            depth++;
        return depth;
    }

    /// <summary>
    /// The key of <paramref name="property"/>'s [ConfSection], checked; null when it has none. A section class is keyed
    /// by its section: it has no prefix, and no lists or maps (they would need a path of their own through the binder).
    /// The empty key is an unnamed section: its keys stand at the parent's level, as if the parent declared them.
    /// </summary>
    private static string? SectionOf(Type optionsType, PropertyInfo property)
    {
        if (property.GetCustomAttribute<ConfSectionAttribute>(inherit: true) is not { } attribute)
            return null;
        var type = property.PropertyType;
        string Where() => $"{optionsType.Name}.{property.Name} [ConfSection(\"{attribute.Key}\")]";
        if (attribute.Key.Length != 0 && !ConfFile.IsValidKey(attribute.Key))
            throw new InvalidOperationException($"{Where()}: invalid key.");
        if (!type.IsClass || type == typeof(string) || property.GetMethod?.IsPublic != true)
            throw new InvalidOperationException($"{Where()}: the property must be an options class with a public getter.");
        RefusePrefix(type, Where);
        if (ListsFor(type).Count > 0 || MapsFor(type).Count > 0)
            throw new InvalidOperationException($"{Where()}: {type.Name} has a [ConfList] or [ConfMap]; a section holds [ConfKey]s and sections only.");
        return attribute.Key;
    }

    /// <summary>Every [ConfSection] of <paramref name="optionsType"/>, nested ones after their parent, with full keys.</summary>
    public static IReadOnlyList<ConfSectionInfo> SectionsFor(Type optionsType)
    {
        var sections = new List<ConfSectionInfo>();
        var prefix = PrefixOf(optionsType);
        foreach (var property in InDeclarationOrder(optionsType))
        {
            if (property.GetCustomAttribute<ConfKeyAttribute>(inherit: true) is null && SectionOf(optionsType, property) is { } section)
            {
                var key = Prefixed(prefix, section);
                sections.Add(new ConfSectionInfo(key, [property]));
                foreach (var inner in SectionsFor(property.PropertyType))
                    sections.Add(new ConfSectionInfo(Prefixed(key, inner.Key), [property, .. inner.Path]));
            }
        }
        return sections;
    }

    /// <summary>The object at the end of <paramref name="path"/> from <paramref name="options"/>.</summary>
    public static object Follow(object options, IReadOnlyList<PropertyInfo> path)
    {
        foreach (var property in path)
        {
            options = property.GetValue(options)
                ?? throw new InvalidOperationException($"{property.DeclaringType?.Name}.{property.Name} is null: a [ConfSection] property needs its object as its initial value.");
        }
        return options;
    }

    /// <summary>An entry class of a [ConfList] or [ConfMap] is keyed by its entry: a prefix of its own would be lost.</summary>
    private static void RefusePrefix(Type elementType, Func<string> where)
    {
        if (PrefixOf(elementType) is not null)
            throw new InvalidOperationException($"{where()}: {elementType.Name} has a [ConfPrefix]; an entry's keys are relative to the entry.");
    }

    private static ConfKeyInfo Describe(Type optionsType, PropertyInfo property, ConfKeyAttribute attribute)
    {
        string Where() => $"{optionsType.Name}.{property.Name} [ConfKey(\"{attribute.Key}\")]";

        // The empty key is an entry's own value ([ConfMap]: listener.tcp.<name> = address).
        if (attribute.Key.Length != 0 && !ConfFile.IsValidKey(attribute.Key))
        {
            throw new InvalidOperationException($"{Where()}: invalid key.");
        }

        if (!property.CanWrite || property.SetMethod?.IsPublic != true)
        {
            throw new InvalidOperationException($"{Where()}: the property needs a public setter.");
        }

        return DescribeValue(Where, property.PropertyType, property, attribute.Key, attribute.Description, attribute.Unit,
            attribute.Min, attribute.Max, attribute.Example);
    }

    private static ConfKeyInfo DescribeValue(Func<string> Where, Type type, PropertyInfo property, string key, string description,
        ConfUnit unit, string? min, string? max, string? example)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        var valueType = underlying ?? type;
        var kind = valueType switch
        {
            _ when valueType == typeof(string) => ConfValueKind.String,
            _ when valueType == typeof(bool) => ConfValueKind.Bool,
            _ when valueType == typeof(int) => ConfValueKind.Int32,
            _ when valueType == typeof(long) => ConfValueKind.Int64,
            _ when valueType == typeof(uint) => ConfValueKind.UInt32,
            _ when valueType == typeof(ushort) => ConfValueKind.UInt16,
            _ when valueType == typeof(double) => ConfValueKind.Double,
            _ when valueType == typeof(TimeSpan) => ConfValueKind.Duration,
            _ when valueType.IsEnum => ConfValueKind.Enum,
            _ => throw new InvalidOperationException($"{Where()}: type {type.Name} is not supported."),
        };

        var unitFits = unit switch
        {
            ConfUnit.None => true,
            ConfUnit.Bytes => kind is ConfValueKind.Int32 or ConfValueKind.Int64 or ConfValueKind.UInt32 or ConfValueKind.UInt16,
            ConfUnit.Duration => kind == ConfValueKind.Duration,
            _ => false,
        };
        if (!unitFits)
        {
            throw new InvalidOperationException($"{Where()}: unit {unit} does not fit type {valueType.Name}.");
        }

        if (kind == ConfValueKind.Duration)
        {
            unit = ConfUnit.Duration;
        }

        var info = new ConfKeyInfo
        {
            Key = key,
            Description = description,
            Property = property,
            Kind = kind,
            Unit = unit,
            ValueType = valueType,
            IsNullable = underlying is not null || kind == ConfValueKind.String,
            Example = example,
        };

        return info with
        {
            MinText = min,
            Min = ParseBound(info, min, Where),
            MaxText = max,
            Max = ParseBound(info, max, Where),
        };
    }

    /// <summary>The [ConfMap] properties of an options type, in declaration order.</summary>
    public static IReadOnlyList<ConfMapInfo> MapsFor(Type optionsType)
    {
        var maps = new List<ConfMapInfo>();
        var prefix = PrefixOf(optionsType);
        foreach (var property in InDeclarationOrder(optionsType))
        {
            if (property.GetCustomAttribute<ConfMapAttribute>(inherit: true) is not { } attribute)
                continue;
            var type = property.PropertyType;
            if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(Dictionary<,>) || type.GetGenericArguments()[0] != typeof(string))
                throw new InvalidOperationException($"{optionsType.Name}.{property.Name} [ConfMap(\"{attribute.Key}\")]: the property must be a Dictionary<string, T>.");
            var elementType = type.GetGenericArguments()[1];
            if (elementType.GetConstructor(Type.EmptyTypes) is null)
                throw new InvalidOperationException($"{optionsType.Name}.{property.Name}: {elementType.Name} needs a public parameterless constructor.");
            RefusePrefix(elementType, () => $"{optionsType.Name}.{property.Name} [ConfMap(\"{attribute.Key}\")]");
            maps.Add(new ConfMapInfo(Prefixed(prefix, attribute.Key), attribute.Description, property, elementType, For(elementType)));
        }
        return maps;
    }

    /// <summary>The [ConfList] properties of an options type, in declaration order.</summary>
    public static IReadOnlyList<ConfListInfo> ListsFor(Type optionsType) =>
        optionsType.Assembly.IsCollectible ? BuildLists(optionsType) : ListCache.GetOrAdd(optionsType, BuildLists);

    private static readonly ConcurrentDictionary<Type, IReadOnlyList<ConfListInfo>> ListCache = new();

    private static IReadOnlyList<ConfListInfo> BuildLists(Type optionsType)
    {
        var lists = new List<ConfListInfo>();
        var prefix = PrefixOf(optionsType);
        foreach (var property in InDeclarationOrder(optionsType))
        {
            if (property.GetCustomAttribute<ConfListAttribute>(inherit: true) is not { } attribute)
                continue;
            string Where() => $"{optionsType.Name}.{property.Name} [ConfList(\"{attribute.Key}\")]";
            if (!ConfFile.IsValidKey(attribute.Key))
                throw new InvalidOperationException($"{Where()}: invalid key.");
            var type = property.PropertyType;
            if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(SortedDictionary<,>) || type.GetGenericArguments()[0] != typeof(int))
                throw new InvalidOperationException($"{Where()}: the property must be a SortedDictionary<int, T>.");
            if (!property.CanWrite || property.SetMethod?.IsPublic != true)
                throw new InvalidOperationException($"{Where()}: the property needs a public setter.");
            var elementType = type.GetGenericArguments()[1];
            RefusePrefix(elementType, Where);
            var fields = For(elementType);
            ConfKeyInfo? value = null;
            if (fields.Count == 0)
            {
                // A plain value per entry: described like a key of that type, without bounds.
                value = DescribeValue(Where, elementType, property, Prefixed(prefix, attribute.Key) + ".N", attribute.Description, ConfUnit.None, null, null, attribute.Example);
            }
            else if (elementType.GetConstructor(Type.EmptyTypes) is null)
            {
                throw new InvalidOperationException($"{Where()}: {elementType.Name} needs a public parameterless constructor.");
            }
            lists.Add(new ConfListInfo(Prefixed(prefix, attribute.Key), attribute.Description, property, elementType, value, fields));
        }
        return lists;
    }

    private static IComparable? ParseBound(ConfKeyInfo info, string? text, Func<string> where)
    {
        if (text is null)
        {
            return null;
        }

        if (info.Kind is ConfValueKind.String or ConfValueKind.Bool or ConfValueKind.Enum)
        {
            throw new InvalidOperationException($"{where()}: Min and Max apply to numbers, sizes and durations only.");
        }

        if (!ConfValues.TryParse(info, text, out var value, out var problem) || value is not IComparable comparable)
        {
            throw new InvalidOperationException($"{where()}: bound \"{text}\": {problem}.");
        }

        return comparable;
    }
}
