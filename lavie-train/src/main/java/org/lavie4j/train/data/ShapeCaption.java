package org.lavie4j.train.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What one synthetic clip shows: a colour, a shape and a direction of motion, captioned
 * {@code "a <colour> <shape> moving <direction>"} (e.g. "a red circle moving left"). The three closed sets are enums;
 * their names are the caption words.
 *
 * @param colour    the shape's colour
 * @param shape     the shape
 * @param direction where it moves, in image coordinates (up = towards the top row)
 */
public record ShapeCaption(Colour colour, Shape shape, Direction direction) {
    private static final Pattern CAPTION = Pattern.compile("\\s*an?\\s+(\\S+)\\s+(\\S+)\\s+moving\\s+(\\S+)\\s*");

    public ShapeCaption {
        if (colour == null || shape == null || direction == null)
            throw new IllegalArgumentException("ShapeCaption: colour, shape and direction must not be null");
    }

    /** A colour of the synthetic shapes: its sRGB value, and its hue in degrees (white has none). */
    public enum Colour {
        RED(230, 40, 40),
        ORANGE(240, 140, 20),
        YELLOW(235, 220, 30),
        GREEN(40, 200, 60),
        CYAN(30, 210, 220),
        BLUE(50, 80, 240),
        PURPLE(170, 60, 220),
        WHITE(235, 235, 235);

        private final int r, g, b;

        Colour(int r, int g, int b) {
            this.r = r;
            this.g = g;
            this.b = b;
        }

        /** The colour as {r, g, b} in 0..255. */
        public int[] rgb() { return new int[]{r, g, b}; }

        /** Hue in degrees [0, 360) of this colour (HSV); NaN for white. */
        public double hue() { return Hsv.hue(r, g, b); }

        /** The caption word ("red"). */
        public String word() { return name().toLowerCase(Locale.ROOT); }
    }

    /** A shape, drawn inside a square box of side {@code s} centred on the shape's position. */
    public enum Shape {
        /** Disc of diameter s (fills π/4 of its box). */
        CIRCLE,
        /** Axis-aligned square of side s (fills its box). */
        SQUARE,
        /** Isosceles triangle, apex up, base at the bottom of the box (fills half; mass centre s/6 below the box centre). */
        TRIANGLE,
        /** Square rotated by 45°, corners at the box's edge midpoints (fills half; mass centre at the box centre). */
        DIAMOND;

        /** The caption word ("circle"). */
        public String word() { return name().toLowerCase(Locale.ROOT); }

        /**
         * Whether the point at offset (dx, dy) from the centre, in units of the half side (so the box is [-1, 1]²),
         * lies inside the shape; y grows downwards.
         */
        boolean contains(double dx, double dy) {
            return switch (this) {
                case CIRCLE -> dx * dx + dy * dy <= 1.0;
                case SQUARE -> Math.abs(dx) <= 1.0 && Math.abs(dy) <= 1.0;
                case TRIANGLE -> dy >= -1.0 && dy <= 1.0 && Math.abs(dx) <= (dy + 1.0) / 2.0;
                case DIAMOND -> Math.abs(dx) + Math.abs(dy) <= 1.0;
            };
        }
    }

    /** A direction of motion: the unit step (dx, dy) in image coordinates (y grows downwards). */
    public enum Direction {
        LEFT(-1, 0),
        RIGHT(1, 0),
        UP(0, -1),
        DOWN(0, 1);

        private final int dx, dy;

        Direction(int dx, int dy) {
            this.dx = dx;
            this.dy = dy;
        }

        public int dx() { return dx; }

        public int dy() { return dy; }

        /** The caption word ("left"). */
        public String word() { return name().toLowerCase(Locale.ROOT); }

        /** The other way along the same axis (left and right, up and down). */
        public Direction opposite() {
            return switch (this) {
                case LEFT -> RIGHT;
                case RIGHT -> LEFT;
                case UP -> DOWN;
                case DOWN -> UP;
            };
        }

        /** The direction seen in a horizontally mirrored video (left and right swap). */
        public Direction mirrored() {
            return this == LEFT ? RIGHT : this == RIGHT ? LEFT : this;
        }
    }

    /** The caption: "a red circle moving left". */
    public String caption() {
        return "a " + colour.word() + " " + shape.word() + " moving " + direction.word();
    }

    /** The caption of a still image of this shape: "a red circle" (a still shows no motion). */
    public String stillCaption() {
        return "a " + colour.word() + " " + shape.word();
    }

    /** "red circle left": the short form {@link #parseCombination} reads (holdout lists, file names with '_'). */
    public String combination() {
        return colour.word() + " " + shape.word() + " " + direction.word();
    }

    @Override
    public String toString() { return caption(); }

    /** Every combination, in enum order (colour, then shape, then direction). */
    public static List<ShapeCaption> all() {
        List<ShapeCaption> out = new ArrayList<>();
        for (Colour c : Colour.values())
            for (Shape s : Shape.values())
                for (Direction d : Direction.values()) out.add(new ShapeCaption(c, s, d));
        return out;
    }

    /**
     * Reads a caption of the grammar "a|an &lt;colour&gt; &lt;shape&gt; moving &lt;direction&gt;" (case-insensitive).
     *
     * @throws IllegalArgumentException naming the caption and the known words when it does not fit the grammar
     */
    public static ShapeCaption parse(String caption) {
        Matcher m = CAPTION.matcher(caption.toLowerCase(Locale.ROOT));
        if (!m.matches())
            throw new IllegalArgumentException("not a synthetic-shapes caption: '" + caption + "' (expected \"a <colour> <shape> moving <direction>\")");
        return of(m.group(1), m.group(2), m.group(3), caption);
    }

    /** Reads "red circle left" (three words separated by spaces or '_'), or a full caption. */
    public static ShapeCaption parseCombination(String text) {
        String t = text.strip().toLowerCase(Locale.ROOT);
        if (t.startsWith("a ") || t.startsWith("an ")) return parse(t);
        String[] w = t.split("[\\s_]+");
        if (w.length != 3)
            throw new IllegalArgumentException("not a colour-shape-direction combination: '" + text + "' (expected e.g. \"red circle left\")");
        return of(w[0], w[1], w[2], text);
    }

    /** Reads a comma-separated list of combinations ("red circle left, blue square up"); blank gives an empty set. */
    public static Set<ShapeCaption> parseList(String list) {
        Set<ShapeCaption> out = new LinkedHashSet<>();
        if (list == null || list.isBlank()) return out;
        for (String item : list.split(",")) if (!item.isBlank()) out.add(parseCombination(item));
        return out;
    }

    private static ShapeCaption of(String colour, String shape, String direction, String text) {
        return new ShapeCaption(word(Colour.class, colour, text), word(Shape.class, shape, text), word(Direction.class, direction, text));
    }

    private static <E extends Enum<E>> E word(Class<E> type, String w, String text) {
        for (E e : type.getEnumConstants()) if (e.name().equalsIgnoreCase(w)) return e;
        throw new IllegalArgumentException("'" + text + "': unknown " + type.getSimpleName().toLowerCase(Locale.ROOT) + " '" + w
                + "'; known: " + Arrays.stream(type.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT)).toList());
    }

    /** HSV helpers shared by the generator and {@link ShapeDescriber}. */
    static final class Hsv {
        private Hsv() {}

        /** Hue in degrees [0, 360) of an RGB colour; NaN when it is grey (max == min). */
        static double hue(double r, double g, double b) {
            double max = Math.max(r, Math.max(g, b)), min = Math.min(r, Math.min(g, b)), d = max - min;
            if (d <= 0) return Double.NaN;
            double h;
            if (max == r) h = (g - b) / d;
            else if (max == g) h = 2 + (b - r) / d;
            else h = 4 + (r - g) / d;
            h *= 60;
            return h < 0 ? h + 360 : h;
        }

        /** Saturation (max - min) / max in [0, 1]; 0 for black. */
        static double saturation(double r, double g, double b) {
            double max = Math.max(r, Math.max(g, b)), min = Math.min(r, Math.min(g, b));
            return max <= 0 ? 0 : (max - min) / max;
        }
    }
}
