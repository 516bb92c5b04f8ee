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

    /// <summary>The configuration path, <c>a:b:c</c> for <c>a.b.c</c>.</summary>
    public string Path => ConfKeys.ToPath(Key);
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
        // Declaration order, so the rendered .conf reads in the order the options class was written.
        var properties = optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.MetadataToken);
        foreach (var property in properties)
        {
            var attribute = property.GetCustomAttribute<ConfKeyAttribute>(inherit: true);
            if (attribute is not null)
            {
                if (keys.Any(k => string.Equals(k.Key, attribute.Key, StringComparison.OrdinalIgnoreCase)))
                {
                    throw new InvalidOperationException($"{optionsType.Name}.{property.Name}: key {attribute.Key} is bound twice.");
                }

                keys.Add(Describe(optionsType, property, attribute));
            }
        }

        return keys;
    }

    private static ConfKeyInfo Describe(Type optionsType, PropertyInfo property, ConfKeyAttribute attribute)
    {
        string Where() => $"{optionsType.Name}.{property.Name} [ConfKey(\"{attribute.Key}\")]";

        if (!ConfFile.IsValidKey(attribute.Key))
        {
            throw new InvalidOperationException($"{Where()}: invalid key.");
        }

        if (!property.CanWrite || property.SetMethod?.IsPublic != true)
        {
            throw new InvalidOperationException($"{Where()}: the property needs a public setter.");
        }

        var underlying = Nullable.GetUnderlyingType(property.PropertyType);
        var valueType = underlying ?? property.PropertyType;
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
            _ => throw new InvalidOperationException($"{Where()}: type {property.PropertyType.Name} is not supported."),
        };

        var unit = attribute.Unit;
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
            Key = attribute.Key,
            Description = attribute.Description,
            Property = property,
            Kind = kind,
            Unit = unit,
            ValueType = valueType,
            IsNullable = underlying is not null || kind == ConfValueKind.String,
            Example = attribute.Example,
        };

        return info with
        {
            MinText = attribute.Min,
            Min = ParseBound(info, attribute.Min, Where),
            MaxText = attribute.Max,
            Max = ParseBound(info, attribute.Max, Where),
        };
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
