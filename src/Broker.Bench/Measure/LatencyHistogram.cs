using System.Numerics;

namespace Broker.Bench.Measure;

/// <summary>
/// A log-bucketed latency histogram in the manner of HdrHistogram, hand-written to stay small and allocation-free
/// on the hot path: values below 128 µs have their own bucket; above, each power of two is split into 64 linear
/// sub-buckets, so any recorded value is reported within 1/64 (1.6 %) of itself. Values are microseconds; the range
/// is 0 to 2^40 µs (12 days), larger values land in the last bucket.
/// </summary>
/// <remarks>Not thread-safe: each receiving connection owns one, and they are merged after the run.</remarks>
internal sealed class LatencyHistogram
{
    private const int LinearLimit = 128;
    private const int SubBuckets = 64;
    private const int MaxShift = 34;
    private const int BucketCount = LinearLimit + (MaxShift * SubBuckets);

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public long Max { get; private set; }

    public double Sum { get; private set; }

    public void Record(long micros)
    {
        if (micros < 0)
            micros = 0;
        _counts[IndexOf(micros)]++;
        Count++;
        Sum += micros;
        if (micros > Max)
            Max = micros;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++)
            _counts[i] += other._counts[i];
        Count += other.Count;
        Sum += other.Sum;
        Max = Math.Max(Max, other.Max);
    }

    /// <summary>The smallest recorded value such that <paramref name="percentile"/> % of values are at or below it
    /// (the bucket's upper edge, capped at <see cref="Max"/>); 0 when empty.</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0)
            return 0;
        var rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        rank = Math.Clamp(rank, 1, Count);
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank)
                return Math.Min(UpperEdge(i), Max);
        }
        return Max;
    }

    public double Mean => Count == 0 ? 0 : Sum / Count;

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit)
            return (int)value;
        var msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        var shift = msb - 6;
        if (shift > MaxShift)
            return BucketCount - 1;
        var mantissa = (int)(value >> shift) - SubBuckets;
        return LinearLimit + ((shift - 1) * SubBuckets) + mantissa;
    }

    /// <summary>The largest value that falls into bucket <paramref name="index"/>.</summary>
    internal static long UpperEdge(int index)
    {
        if (index < LinearLimit)
            return index;
        var shift = ((index - LinearLimit) / SubBuckets) + 1;
        var mantissa = ((index - LinearLimit) % SubBuckets) + SubBuckets;
        return ((long)(mantissa + 1) << shift) - 1;
    }
}
